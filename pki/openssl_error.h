// The one place in pki/ where OpenSSL's error queue becomes a unitsync Error
// (internal to pki/).
//
// OpenSSL reports failures on a per-thread queue. Every pki/ call that fails in
// OpenSSL goes through FailOpenSsl, which drains the queue (so a stale entry never
// surfaces in a later, unrelated error) and names the library's reason. Reasons are
// OpenSSL's fixed strings ("bad decrypt", "no start line"): they never contain key
// material or file contents.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace unitsync::pki {

// Error{code, "<what>: <OpenSSL reason>", hint}; drains the thread's error queue.
Error OpenSslError(Errc code, std::string_view what, std::string hint = {});

inline tl::unexpected<Error> FailOpenSsl(Errc code, std::string_view what, std::string hint = {}) {
  return tl::unexpected<Error>(OpenSslError(code, what, std::move(hint)));
}

// Discards whatever is on this thread's error queue (after a failure that is an
// expected outcome, e.g. a verification that is allowed to fail).
void ClearOpenSslErrors();

}  // namespace unitsync::pki
