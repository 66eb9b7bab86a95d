router {
  listen           = "localhost"
  max_message_size = 0

  realm "realm1" {}
  realm "realm1" {}
  realm "my realm" {}
}
