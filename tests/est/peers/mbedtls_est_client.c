/* An EST client on mbedTLS 2.28, as an ESP-IDF-class device would enroll: it makes
 * its own P-256 key and PKCS#10 request (mbedtls_x509write_csr), base64-encodes it,
 * POSTs it to simpleenroll over TLS 1.2 with HTTP Basic (NAME and an enrollment
 * code), and prints the raw HTTP answer on stdout.  The key goes to KEY_OUT (PEM).
 * Usage: mbedtls_est_client PORT CA_FILE PATH NAME CODE KEY_OUT
 * Exit 0 when the exchange happened (whatever the status), else the failing step. */
#include <stdio.h>
#include <string.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ecp.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

static int make_csr(mbedtls_pk_context *key, mbedtls_ctr_drbg_context *drbg, const char *name,
                    unsigned char *b64, size_t b64_size, size_t *b64_len) {
    unsigned char der[1024], subject[128];
    mbedtls_x509write_csr csr;
    mbedtls_x509write_csr_init(&csr);
    snprintf((char *)subject, sizeof subject, "CN=%s", name);
    mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&csr, key);
    if (mbedtls_x509write_csr_set_subject_name(&csr, (const char *)subject) != 0) return -1;
    int len = mbedtls_x509write_csr_der(&csr, der, sizeof der, mbedtls_ctr_drbg_random, drbg);
    mbedtls_x509write_csr_free(&csr);
    if (len <= 0) return -1;
    /* the DER is written at the end of the buffer */
    return mbedtls_base64_encode(b64, b64_size, b64_len, der + sizeof der - len, (size_t)len);
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: %s PORT CA PATH NAME CODE KEY_OUT\n", argv[0]); return 2; }
    mbedtls_entropy_context entropy; mbedtls_ctr_drbg_context drbg; mbedtls_pk_context key;
    mbedtls_x509_crt ca; mbedtls_ssl_config conf; mbedtls_ssl_context ssl; mbedtls_net_context net;
    mbedtls_entropy_init(&entropy); mbedtls_ctr_drbg_init(&drbg); mbedtls_pk_init(&key);
    mbedtls_x509_crt_init(&ca); mbedtls_ssl_config_init(&conf); mbedtls_ssl_init(&ssl); mbedtls_net_init(&net);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0) return 3;
    if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0) return 3;
    if (mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, &drbg) != 0) return 3;
    unsigned char pem[1024];
    if (mbedtls_pk_write_key_pem(&key, pem, sizeof pem) != 0) return 3;
    FILE *out = fopen(argv[6], "w");
    if (out == NULL) return 3;
    fputs((const char *)pem, out); fclose(out);

    unsigned char body[2048], credentials[256], auth[400];
    size_t body_len, auth_len;
    if (make_csr(&key, &drbg, argv[4], body, sizeof body, &body_len) != 0) { fprintf(stderr, "csr\n"); return 4; }
    int n = snprintf((char *)credentials, sizeof credentials, "%s:%s", argv[4], argv[5]);
    if (mbedtls_base64_encode(auth, sizeof auth, &auth_len, credentials, (size_t)n) != 0) return 4;

    if (mbedtls_x509_crt_parse_file(&ca, argv[2]) < 0) { fprintf(stderr, "bad ca\n"); return 5; }
    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
    if (mbedtls_ssl_setup(&ssl, &conf) != 0 || mbedtls_ssl_set_hostname(&ssl, "localhost") != 0) return 5;
    if (mbedtls_net_connect(&net, "127.0.0.1", argv[1], MBEDTLS_NET_PROTO_TCP) != 0) return 6;
    mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
    int ret;
    while ((ret = mbedtls_ssl_handshake(&ssl)) == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {}
    if (ret != 0) { fprintf(stderr, "handshake -0x%04x\n", (unsigned)-ret); return 7; }

    char request[4096];
    int head = snprintf(request, sizeof request,
                        "POST %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic %s\r\n"
                        "Content-Type: application/pkcs10\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                        argv[3], (const char *)auth, body_len);
    if (mbedtls_ssl_write(&ssl, (const unsigned char *)request, (size_t)head) != head) return 8;
    if (mbedtls_ssl_write(&ssl, body, body_len) != (int)body_len) return 8;
    unsigned char answer[8192];
    size_t got = 0;
    for (;;) {
        ret = mbedtls_ssl_read(&ssl, answer + got, sizeof answer - got);
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
        if (ret <= 0 || got + (size_t)ret >= sizeof answer) break;  /* close_notify, EOF or full */
        got += (size_t)ret;
    }
    fwrite(answer, 1, got, stdout);
    mbedtls_ssl_close_notify(&ssl);
    mbedtls_net_free(&net);
    return 0;
}
