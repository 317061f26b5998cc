package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// connectError is the error of a first connection to MongoDB that failed: one line that
// says which server could not be reached and why, in place of the driver's dump of its
// topology (every server, its type, its last error), and what to check.
func connectError(hosts string, err error, waited time.Duration) error {
	var sse topology.ServerSelectionError
	if !errors.As(err, &sse) {
		return fmt.Errorf("connect to MongoDB at %s: %w (check MONGO_URL: the host, port, credentials and network)", hosts, err)
	}
	var reasons []string
	for _, s := range sse.Desc.Servers {
		if s.LastError != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %s", s.Addr, plainReason(s.LastError)))
		}
	}
	if len(reasons) == 0 {
		return fmt.Errorf("cannot reach MongoDB at %s: no server answered within %s (check MONGO_URL: the host, port and network; MONGO_TIMEOUT sets the wait)", hosts, waited)
	}
	return fmt.Errorf("cannot reach MongoDB at %s (check MONGO_URL: the host, port, credentials and network; waited %s)", strings.Join(reasons, "; "), waited)
}

// plainReason is the cause of a failed connection in a few words.
func plainReason(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "no such host " + dns.Name
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" && op.Err != nil {
		var inner interface{ Unwrap() error }
		if errors.As(op.Err, &inner) && inner.Unwrap() != nil {
			return inner.Unwrap().Error() // "connection refused", not "connect: connection refused"
		}
		return op.Err.Error()
	}
	if s := err.Error(); strings.Contains(s, "AuthenticationFailed") || strings.Contains(s, "Authentication failed") {
		return "authentication failed (check the user, the password and authSource)"
	}
	return err.Error()
}
