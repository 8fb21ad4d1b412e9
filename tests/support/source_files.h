// Files of the source tree that tests read (Kubernetes manifests, the default config). The build
// compiles the source root into the test support library, so a test binary finds them however
// it is started: through `meson test`, by hand, or under gdb.
#pragma once

#include <string>

namespace vipgate::test {

// `relative` (e.g. "config/default.toml") under the source root.
std::string source_path(const std::string& relative);

// The whole file; empty, with a test failure naming the path, when it cannot be read.
std::string read_source_file(const std::string& relative);

// tests/unit/manifests/`name`.
std::string manifest_text(const std::string& name);

}  // namespace vipgate::test
