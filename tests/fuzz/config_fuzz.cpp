// libFuzzer target: the config file's TOML decoder and validator (config::load_config_string),
// as `vipgate --check` and every reload run them on a file.
//
// Properties: it never crashes or throws; it returns a config exactly when it reports no
// error; every error has a message; and a config it accepts survives format_config: the text
// written loads back, without error, to an equal config (what `vipctl dump` relies on).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "tests/fuzz/fuzz_check.h"

using namespace vipgate;

namespace {

bool same(const config::Config& a, const config::Config& b) {  // every member but `source`
    return a.eal == b.eal && a.dataplane == b.dataplane && a.snat == b.snat && a.conntrack == b.conntrack &&
           a.ports == b.ports && a.routes == b.routes && a.neighbors == b.neighbors && a.cluster == b.cluster &&
           a.services == b.services && a.pods == b.pods && a.endpoint_slices == b.endpoint_slices;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const config::LoadResult loaded = config::load_config_string(text, "fuzz.toml");
    FUZZ_CHECK(loaded.config.has_value() == loaded.errors.empty());
    for (const config::ConfigError& error : loaded.errors) FUZZ_CHECK(!error.message.empty(), error.to_string());
    if (!loaded.config) return 0;
    const std::string written = config::format_config(*loaded.config);
    const config::LoadResult reread = config::load_config_string(written, "written.toml");
    FUZZ_CHECK(reread.config.has_value(), config::describe_errors(reread.errors) + "\n" + written);
    FUZZ_CHECK(same(*loaded.config, *reread.config), written);
    return 0;
}
