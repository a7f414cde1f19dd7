#include "daemon/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cstdio>
#include <memory>
#include <string>

#include "pki/identity.h"

namespace unitsync::daemon {
namespace ssl = boost::asio::ssl;
namespace {

Error OpensslError(const std::string& what) {
  const unsigned long e = ERR_get_error();
  char buf[256] = "unknown";
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return Error{Errc::kInvalidArgument, what + ": " + buf,
               "check the bundle made by unitsyncctl pki"};
}

// The node id a refused client certificate claims, kept on the SSL object for the log
// line (the handshake fails before OpenSSL keeps the certificate itself).
void FreeClaimedId(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}

int ClaimedIdIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &FreeClaimedId);
  return index;
}

// Verification callback at central: changes no verdict; on a failing leaf it notes the id
// the certificate claims, if it is a well-formed node id (the rest is the peer's text).
int NoteRefusedClient(int ok, X509_STORE_CTX* store) {
  if (ok == 1 || X509_STORE_CTX_get_error_depth(store) != 0) return ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const X509* leaf = X509_STORE_CTX_get_current_cert(store);
  const int index = ClaimedIdIndex();
  if (ssl == nullptr || leaf == nullptr || index < 0 || SSL_get_ex_data(ssl, index) != nullptr) {
    return ok;
  }
  if (auto id = pki::UnitIdFromCertificate(leaf)) {
    auto* copy = new std::string(std::move(*id));
    if (SSL_set_ex_data(ssl, index, copy) != 1) delete copy;
  }
  ERR_clear_error();
  return ok;
}

Status Common(ssl::context& ctx, const pki::Bundle& bundle) {
  SSL_CTX* c = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
    return tl::unexpected(OpensslError("cannot restrict TLS to 1.3"));
  }
  SSL_CTX_set_max_early_data(c, 0);
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(c, bundle.cert_path.c_str()) != 1) {
    return tl::unexpected(OpensslError("cannot load certificate " + bundle.cert_path));
  }
  if (SSL_CTX_use_PrivateKey_file(c, bundle.key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    return tl::unexpected(OpensslError("cannot load private key " + bundle.key_path));
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    return tl::unexpected(OpensslError("certificate and key do not match"));
  }
  return {};
}

}  // namespace

Result<ssl::context> MakeClientContext(const pki::Bundle& bundle) {
  ssl::context ctx(ssl::context::tls_client);
  if (auto st = Common(ctx, bundle); !st) return tl::unexpected(st.error());
  if (SSL_CTX_load_verify_locations(ctx.native_handle(), bundle.ca_path.c_str(), nullptr) != 1) {
    return tl::unexpected(OpensslError("cannot load CA " + bundle.ca_path));
  }
  SSL_CTX_set_verify(ctx.native_handle(), SSL_VERIFY_PEER, nullptr);
  return ctx;
}

Result<ssl::context> MakeServerContext(const pki::Bundle& bundle, const std::string& ca_path,
                                       const std::string& crl_path) {
  ssl::context ctx(ssl::context::tls_server);
  if (auto st = Common(ctx, bundle); !st) return tl::unexpected(st.error());
  SSL_CTX* c = ctx.native_handle();
  if (SSL_CTX_load_verify_locations(c, ca_path.c_str(), nullptr) != 1) {
    return tl::unexpected(OpensslError("cannot load CA " + ca_path));
  }
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(crl_path.c_str(), "r"), &std::fclose);
  if (!f) {
    return Fail(Errc::kNotFound, "cannot read CRL " + crl_path,
                "the CA directory's crl.pem (unitsyncctl pki init-ca made it)");
  }
  X509_CRL* crl = PEM_read_X509_CRL(f.get(), nullptr, nullptr, nullptr);
  if (crl == nullptr) return tl::unexpected(OpensslError("cannot parse CRL " + crl_path));
  X509_STORE* store = SSL_CTX_get_cert_store(c);
  const int added = X509_STORE_add_crl(store, crl);
  X509_CRL_free(crl);
  if (added != 1) return tl::unexpected(OpensslError("cannot use CRL " + crl_path));
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &NoteRefusedClient);
  return ctx;
}

Status VerifyClientAgain(ssl::context& ctx, SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return Fail(Errc::kRejected, "the session has no client certificate");
  std::unique_ptr<X509_STORE_CTX, void (*)(X509_STORE_CTX*)> vctx(X509_STORE_CTX_new(),
                                                                  &X509_STORE_CTX_free);
  // The server side's peer chain holds the intermediates only (none here: the CA signs
  // units directly), as in the handshake.
  if (!vctx ||
      X509_STORE_CTX_init(vctx.get(), SSL_CTX_get_cert_store(ctx.native_handle()), cert,
                          SSL_get_peer_cert_chain(ssl)) != 1 ||
      X509_STORE_CTX_set_default(vctx.get(), "ssl_client") != 1) {
    ERR_clear_error();
    return Fail(Errc::kInternal, "cannot set up certificate verification");
  }
  if (X509_verify_cert(vctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(vctx.get());
    ERR_clear_error();
    return Fail(Errc::kRejected, X509_verify_cert_error_string(err));
  }
  return {};
}

std::string HandshakeRefusal(SSL* ssl, const boost::system::error_code& ec) {
  std::string fields = "reason=\"" + ec.message() + "\"";
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    fields += std::string(" verify=\"") + X509_verify_cert_error_string(verify) + "\"";
  }
  const int index = ClaimedIdIndex();
  if (const auto* id =
          index < 0 ? nullptr : static_cast<const std::string*>(SSL_get_ex_data(ssl, index))) {
    fields += " claimed_unit=" + *id;
  }
  return fields;
}

Result<std::string> PeerNodeId(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) {
    return Fail(Errc::kRejected, "peer certificate did not verify");
  }
  const X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return Fail(Errc::kRejected, "peer sent no certificate");
  return pki::UnitIdFromCertificate(cert);
}

}  // namespace unitsync::daemon
