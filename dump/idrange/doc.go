// Package idrange splits a collection's _id values into half-open ranges that several
// cursors can read at once, each document in exactly one of them: the BSON order of
// values of any type (Compare), the ranges a set of boundary values makes (NewPlan), and
// the query filters that select each range on a server whose comparison operators only
// match values of their own type class ("type bracketing", Bracket).
//
// It is pure logic: it never talks to a server, and it never decodes a document beyond
// the _id values it is given.
package idrange
