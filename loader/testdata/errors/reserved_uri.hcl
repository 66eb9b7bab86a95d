component "meta" {
  source = "../app"

  register "wamp.session.count" {
    handler = "Count"
  }
}
