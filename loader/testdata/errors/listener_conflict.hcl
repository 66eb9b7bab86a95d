router {
  listen = "127.0.0.1:8080"

  listener "rawsocket" {
    address = "127.0.0.1:8081"
  }
}
