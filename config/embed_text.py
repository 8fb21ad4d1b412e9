"""Turn a text file into a C++ raw string literal include (used to embed the default config)."""
import sys

text = open(sys.argv[1], encoding="utf-8").read()
delimiter = "VIPGATE_EMBED"
assert ")" + delimiter not in text
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write('R"' + delimiter + "(" + text + ")" + delimiter + '"\n')
