router {
  realm "realm1" {}
  realm "realm2" {}
}

component "add2" {
  source = "../app"
}
