#include "control/heap_pages.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace vipgate {
namespace {

constexpr const char* kTunable = "glibc.malloc.hugetlb=1";

bool sanitized() {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

// "always" or "madvise". Even with "always" the tunable matters: glibc then grows the heap in
// 2 MiB-aligned steps, and only a fault in a whole aligned 2 MiB of the heap gets a huge page.
bool kernel_has_huge_pages() {
    std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string text;
    std::getline(mode, text);
    return !text.empty() && text.find("[never]") == std::string::npos;
}

}  // namespace

void put_heap_on_huge_pages(char** argv) {
    if (sanitized() || std::getenv("GLIBC_TUNABLES") != nullptr) return;
    const char* preload = std::getenv("LD_PRELOAD");
    if (preload != nullptr && std::strstr(preload, "vgpreload") != nullptr) return;
    if (!kernel_has_huge_pages()) return;
    if (setenv("GLIBC_TUNABLES", kTunable, 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("GLIBC_TUNABLES");
}

}  // namespace vipgate
