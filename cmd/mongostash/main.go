// Command mongostash backs up MongoDB databases to S3-compatible storage and restores them.
package main

import "fmt"

var version = "dev"

func main() { fmt.Println("mongostash", version) }
