// OpenSSL from Debian (libssl-dev): the TLS module's client over memory BIOs; the Update
// module's Ed25519 and SHA-256 (EVP). Functions that
// OpenSSL defines as macros are wrapped here so Swift can call them.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

static inline long fl_ssl_ctx_set_min_tls12(SSL_CTX *ctx) { return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION); }
static inline long fl_ssl_set_sni(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
static inline long fl_ssl_ctx_set_mode_partial(SSL_CTX *ctx) {
    return SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}
static inline size_t fl_bio_pending(BIO *b) { return BIO_ctrl_pending(b); }
