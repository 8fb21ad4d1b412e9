// How the fuzz targets report a broken property: a message on stderr, then a trap, which
// libFuzzer records as a crash together with the input that caused it.
#pragma once

#include <cstdio>
#include <string>

namespace vipgate::fuzz {

[[noreturn]] inline void fail(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "fuzz property violated: %s\n%s\n", what, detail.c_str());
    __builtin_trap();
}

}  // namespace vipgate::fuzz

#define FUZZ_CHECK(condition, ...)                                          \
    do {                                                                    \
        if (!(condition)) ::vipgate::fuzz::fail(#condition, ##__VA_ARGS__); \
    } while (false)
