package main

import (
	"strings"

	"github.com/mongostash/mongostash/dump"
	"github.com/mongostash/mongostash/dump/ns"
)

// namespaceFilter combines MONGO_DATABASE (the seed's --nsInclude=<db>.* scope) with
// the include and exclude patterns: a namespace must pass both.
func namespaceFilter(database string, include, exclude []string) (dump.NamespaceFilter, error) {
	m, err := ns.NewMatcher(include, exclude)
	if err != nil {
		return nil, usagef("namespace filter: %v", err)
	}
	if database == "" {
		return m, nil
	}
	db, err := ns.NewMatcher([]string{escapePattern(database) + ".*"}, nil)
	if err != nil {
		return nil, usagef("MONGO_DATABASE %q: %v", database, err)
	}
	return dump.AllOf{db, m}, nil
}

// escapePattern makes a literal name safe inside a namespace pattern.
func escapePattern(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`).Replace(s)
}
