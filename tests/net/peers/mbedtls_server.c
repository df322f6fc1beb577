/* A TLS server on mbedTLS 2.28, configured the way small devices ship it:
 * TLS 1.2, client certificate required, verified against a CA file.
 * Usage: mbedtls_server CERT KEY CA.  Listens on 127.0.0.1, port chosen by the
 * OS, prints "PORT <n>" and serves one connection: the handshake, then an
 * HTTP 404 (no WebSocket), and prints "HANDSHAKE <mbedtls error code>". */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/pk.h>

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s CERT KEY CA\n", argv[0]); return 2; }
    mbedtls_entropy_context entropy; mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt own, ca; mbedtls_pk_context key;
    mbedtls_ssl_config conf; mbedtls_ssl_context ssl; mbedtls_net_context client;
    mbedtls_entropy_init(&entropy); mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&own); mbedtls_x509_crt_init(&ca); mbedtls_pk_init(&key);
    mbedtls_ssl_config_init(&conf); mbedtls_ssl_init(&ssl); mbedtls_net_init(&client);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0) return 3;
    if (mbedtls_x509_crt_parse_file(&own, argv[1]) != 0) { fprintf(stderr, "bad cert\n"); return 3; }
    if (mbedtls_pk_parse_keyfile(&key, argv[2], NULL) != 0) { fprintf(stderr, "bad key\n"); return 3; }
    if (mbedtls_x509_crt_parse_file(&ca, argv[3]) < 0) { fprintf(stderr, "bad ca\n"); return 3; }
    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
    if (mbedtls_ssl_conf_own_cert(&conf, &own, &key) != 0) return 3;
    if (mbedtls_ssl_setup(&ssl, &conf) != 0) return 3;

    int lsock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr; memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET; addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); addr.sin_port = 0;
    if (bind(lsock, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lsock, 1) != 0) return 4;
    socklen_t len = sizeof addr; getsockname(lsock, (struct sockaddr *)&addr, &len);
    printf("PORT %d\n", ntohs(addr.sin_port)); fflush(stdout);
    client.fd = accept(lsock, NULL, NULL);
    if (client.fd < 0) return 4;
    mbedtls_ssl_set_bio(&ssl, &client, mbedtls_net_send, mbedtls_net_recv, NULL);
    int ret;
    while ((ret = mbedtls_ssl_handshake(&ssl)) == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {}
    printf("HANDSHAKE %d\n", ret); fflush(stdout);
    if (ret == 0) {
        unsigned char buf[4096];
        mbedtls_ssl_read(&ssl, buf, sizeof buf);
        const char *answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        mbedtls_ssl_write(&ssl, (const unsigned char *)answer, strlen(answer));
        mbedtls_ssl_close_notify(&ssl);
    }
    mbedtls_net_free(&client); close(lsock);
    return 0;
}
