#!/bin/sh
# make-certs.sh DIR: the certificates the TLS tests use, made with openssl (P-256 keys):
#   ca.pem             the test CA (trusted with --cafile)
#   server.pem/.key    localhost and 127.0.0.1, signed by the CA
#   client.pem/.key    a client certificate signed by the CA (require_certificate)
#   other-ca.pem       a CA that signed nothing here (the wrong CA)
#   wrongname.pem/.key other.example only, signed by the CA (name mismatch)
#   expired.pem        localhost and 127.0.0.1, signed by the CA, expired yesterday
set -eu
cd "$1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 3650 -subj "/CN=Firmloop test CA" 2>/dev/null
key other-ca.key
openssl req -x509 -new -key other-ca.key -out other-ca.pem -days 3650 -subj "/CN=Another CA" 2>/dev/null
# sign NAME CN SAN DAYS [KEY]
sign() {
    [ -f "$1.key" ] || key "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
    printf 'subjectAltName=%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days "$4" -extfile "$1.ext" 2>/dev/null
}
sign server localhost "DNS:localhost,IP:127.0.0.1" 3650
sign client firmloop-test "DNS:firmloop-test" 3650
sign wrongname other.example "DNS:other.example" 3650
cp server.key expired.key
sign expired localhost "DNS:localhost,IP:127.0.0.1" -1
chmod 0644 ./*.pem ./*.key
