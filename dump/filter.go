package dump

// NamespaceFilter decides which namespaces ("db.collection") are dumped or restored.
// *ns.Matcher is one.
type NamespaceFilter interface {
	Match(namespace string) bool
}

// AllOf matches a namespace that every one of its filters matches.
type AllOf []NamespaceFilter

// Match implements NamespaceFilter.
func (a AllOf) Match(namespace string) bool {
	for _, f := range a {
		if f != nil && !f.Match(namespace) {
			return false
		}
	}
	return true
}
