// Glue between Jazzer.js's native addon sources (@jazzer.js/fuzzer 2.1.0, the last release
// that ships them) and an upstream libFuzzer (Debian's libclang-rt-NN-dev), in place of the
// fork of libFuzzer that Jazzer.js's own build downloads from GitHub. Built by
// bench/fuzz/runner/native.ts; none of it runs in the balancer.
//
// What the fork adds, and what stands in for it here:
// - `__jazzer_set_death_callback`: upstream libFuzzer hands its "dump the crashing input"
//   callback to `__sanitizer_set_death_callback` when a sanitizer defines it; defining it
//   here gets that callback, which `printAndDumpCrashingInput` then calls.
// - the `*_with_pc` tracing hooks take a fake PC from JavaScript; upstream has only the
//   forms that take the caller's address. The PC only spreads value-profile features
//   (-use_value_profile, off by default); comparisons still reach the CMP tables.
// - a fuzz target's finding returns -2 from the callback, which the fork takes as "stop";
//   upstream would go on fuzzing. `JazzerCompatStop` ends the process at once instead: the
//   finding is printed and its input written before the callback returns.
// - `registerModuleCounters` (Jazzer.js 4's per-module coverage counters for ESM) is
//   newer than the 2.1.0 sources; it is added here.
#include <napi.h>

#include <cstdint>
#include <cstdio>
#include <unistd.h>

#include "shared/libfuzzer.h"

extern "C" {
void __sanitizer_cov_trace_const_cmp8(uint64_t arg1, uint64_t arg2);
void __sanitizer_cov_trace_pc_indir(uintptr_t callee);
void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *end);
void __sanitizer_cov_pcs_init(const uintptr_t *pcs_beg, const uintptr_t *pcs_end);

[[maybe_unused]] void __sanitizer_set_death_callback(void (*callback)()) {
  libfuzzer::PrintCrashingInput = callback;
}

[[maybe_unused]] void __sanitizer_cov_trace_const_cmp8_with_pc(uintptr_t, uint64_t arg1, uint64_t arg2) {
  __sanitizer_cov_trace_const_cmp8(arg1, arg2);
}

[[maybe_unused]] void __sanitizer_cov_trace_pc_indir_with_pc(void *, uintptr_t callee) {
  __sanitizer_cov_trace_pc_indir(callee);
}
}

void JazzerCompatStop(int exit_code) {
  fflush(stdout);
  fflush(stderr);
  _Exit(exit_code);
}

namespace {
// Fake PCs for module counters, far above the indexes the global coverage map uses.
uintptr_t gNextModulePc = uintptr_t(1) << 40;
} // namespace

void RegisterModuleCounters(const Napi::CallbackInfo &info) {
  if (info.Length() != 1 || !info[0].IsBuffer()) {
    throw Napi::Error::New(info.Env(), "Need one argument: the module's counter Buffer");
  }
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  if (buf.Length() == 0) return;
  // libFuzzer keeps both pointers: the Buffer is kept alive by the JS side, the PC table here.
  auto *pcs = new uintptr_t[2 * buf.Length()];
  for (size_t i = 0; i < buf.Length(); ++i) {
    pcs[2 * i] = gNextModulePc++;
    pcs[2 * i + 1] = 0;
  }
  __sanitizer_cov_8bit_counters_init(buf.Data(), buf.Data() + buf.Length());
  __sanitizer_cov_pcs_init(pcs, pcs + 2 * buf.Length());
}
