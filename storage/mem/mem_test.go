package mem_test

import (
	"testing"

	"github.com/mongostash/mongostash/storage"
	"github.com/mongostash/mongostash/storage/mem"
	"github.com/mongostash/mongostash/storage/storagetest"
)

// TestContract holds the in-memory store to the contract of the real backends, so that
// unit tests built on it see the behaviour they would see against S3 or a directory.
func TestContract(t *testing.T) {
	storagetest.Run(t, storagetest.Options{New: func(*testing.T) storage.Store { return mem.New() }})
}
