// libFuzzer target: Kubernetes manifests (config::load_kubernetes_yaml), as `vipctl apply -f
// x.yaml` sends them: YAML parsing (yaml-cpp), the alias/depth/size bounds, the translation to
// the TOML object shape and its decoder.
//
// Properties: no crash, no exception; objects exactly when no error; every error has a
// message; accepted objects mean the same written as TOML (format_objects_toml loads back
// to an equal set).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/objects.h"
#include "tests/fuzz/fuzz_check.h"

using namespace vipgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const config::ObjectsResult loaded = config::load_kubernetes_yaml(text, "fuzz.yaml");
    FUZZ_CHECK(loaded.objects.has_value() == loaded.errors.empty());
    for (const config::ConfigError& error : loaded.errors) FUZZ_CHECK(!error.message.empty(), error.to_string());
    if (!loaded.objects) return 0;
    const std::string written = config::format_objects_toml(*loaded.objects);
    const config::ObjectsResult reread = config::load_objects_toml(written, "written.toml");
    FUZZ_CHECK(reread.objects.has_value(), config::describe_errors(reread.errors) + "\n" + written);
    FUZZ_CHECK(*reread.objects == *loaded.objects, written);
    return 0;
}
