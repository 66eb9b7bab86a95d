connection "crossbar" {
  url = "ws://127.0.0.1:8080/ws"
}

component "add2" {
  router = "crosbar"
  realm  = "realm1"
  source = "../app"
}
