router {
  realm "realm1" {
    principal "joe" {
      method = "ticket"
      secret = "t0ken"
      role   = "user"
    }
  }
}
