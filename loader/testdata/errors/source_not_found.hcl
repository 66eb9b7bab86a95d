component "add2" {
  source = "../no/such/dir"
}
