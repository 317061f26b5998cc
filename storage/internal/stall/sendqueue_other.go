//go:build !linux

package stall

import "net"

// unsentBytes cannot see the kernel's send queue on this platform: a request whose body
// is still leaving the machine after the last write counts as idle.
func unsentBytes(net.Conn) (int, bool) { return 0, false }
