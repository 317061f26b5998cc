package s3

import (
	"encoding/pem"
	"net/http/httptest"
	"os"
	"testing"
)

// writeCertPEM writes the certificate of a TLS test server as a PEM CA bundle.
func writeCertPEM(t *testing.T, srv *httptest.Server, path string) {
	t.Helper()
	cert := srv.Certificate()
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
