#include "tests/support/source_files.h"

#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

namespace vipgate::test {

std::string source_path(const std::string& relative) {
    return std::string(VIPGATE_SOURCE_ROOT) + "/" + relative;
}

std::string read_source_file(const std::string& relative) {
    const std::string path = source_path(relative);
    std::ifstream file(path);
    if (!file.good()) {
        ADD_FAILURE() << "cannot read " << path;
        return {};
    }
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::string manifest_text(const std::string& name) {
    return read_source_file("tests/unit/manifests/" + name);
}

}  // namespace vipgate::test
