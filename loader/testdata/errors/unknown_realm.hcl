router {
  realm "realm1" {}
}

component "add2" {
  realm  = "realm2"
  source = "../app"
}
