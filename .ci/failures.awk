# Reads tap's TAP stream and prints each failed test with the names of the subtests around it and
# its diagnostic block, so the tail of a CI log says which test failed and why. The "not ok" records
# a failure leaves on every enclosing subtest and file are printed as one line each.
function indent(s) { match(s, /^ */); return RLENGTH }
function flush(   i, summary) {
  if (head == "") return
  summary = (block ~ /\n *(isToplevel: true|command: )/)
  print head
  if (!summary) printf "%s", block
  head = ""; block = ""
}
/^ *# Subtest: / {
  flush()
  name[indent($0) / 4] = substr($0, indent($0) + 12)
  next
}
/^ *not ok / {
  flush()
  if (++count > 30) { print "(more failures not shown)"; exit }
  depth = indent($0) / 4
  head = ""
  for (i = 0; i < depth; i++) head = head name[i] " > "
  head = head substr($0, indent($0) + 1)
  lines = 0; inblock = 1; blockIndent = indent($0) + 2
  next
}
inblock {
  if ($0 != "" && indent($0) < blockIndent) { inblock = 0; flush(); next }
  if (lines++ < 40) block = block "    " substr($0, blockIndent + 1) "\n"
  # A diagnostic block ends with "...": what follows is not part of it.
  if ($0 ~ /^ *\.\.\.$/) { inblock = 0; flush() }
}
END { flush() }
