#include "pki/openssl_error.h"

#include <openssl/err.h>

namespace unitsync::pki {

Error OpenSslError(Errc code, std::string_view what, std::string hint) {
  // The first entry is the root cause; later ones are the callers' context.
  const unsigned long first = ERR_get_error();
  ClearOpenSslErrors();
  std::string message(what);
  if (first != 0) {
    const char* reason = ERR_reason_error_string(first);
    const char* lib = ERR_lib_error_string(first);
    message += ": ";
    message += reason != nullptr ? reason : "unknown reason";
    if (lib != nullptr) {
      message += " (";
      message += lib;
      message += ")";
    }
  }
  return Error{code, std::move(message), std::move(hint)};
}

void ClearOpenSslErrors() { ERR_clear_error(); }

}  // namespace unitsync::pki
