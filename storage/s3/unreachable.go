package s3

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// startAttempts is how often CheckBucket tries to connect to a store that refuses or
// cannot be found: a wrong endpoint is said within a second, while the full retry budget
// stays for a store that goes away mid-run (a restart, a failover), when waiting is worth it.
const startAttempts = 2

// UnreachableError is CheckBucket's error when no connection could be made at all: the
// connection was refused, the host is not found, or there is no route to it.
type UnreachableError struct {
	Endpoint string // the configured endpoint (credentials removed), "" for AWS
	Host     string // the address dialled or the name looked up
	Reason   string // "connection refused", "no such host", …
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("s3: cannot reach %s: %s", e.Host, e.Reason)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// cannotConnect finds in err a failure to connect and says where to and why.
func cannotConnect(err error) (host, reason string, ok bool) {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Name, "no such host", dns.IsNotFound
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || op.Err == nil {
		return "", "", false
	}
	if op.Addr != nil {
		host = op.Addr.String()
	}
	reason = op.Err.Error()
	var se interface{ Unwrap() error }
	if errors.As(op.Err, &se) && se.Unwrap() != nil { // os.SyscallError "connect: connection refused"
		reason = se.Unwrap().Error()
	}
	return host, reason, true
}

// startRetryer gives up a request that could not connect after startAttempts.
type startRetryer struct{ aws.RetryerV2 }

func (r startRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	if _, _, ok := cannotConnect(err); ok && attempt >= startAttempts {
		return 0, err
	}
	return r.RetryerV2.RetryDelay(attempt, err)
}

// fewAttemptsToConnect is the per-request option of the requests made at start.
func fewAttemptsToConnect(o *awss3.Options) {
	if v2, ok := o.Retryer.(aws.RetryerV2); ok {
		o.Retryer = startRetryer{v2}
	}
}

// unreachable wraps err as an UnreachableError when it is a failure to connect.
func (s *Store) unreachable(err error) error {
	host, reason, ok := cannotConnect(err)
	if !ok {
		return nil
	}
	return &UnreachableError{Endpoint: redactURL(s.cfg.Endpoint), Host: host, Reason: reason, Err: err}
}
