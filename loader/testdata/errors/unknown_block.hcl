componnet "add2" {
  source = "../app"
}
