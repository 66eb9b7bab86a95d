router {
  max_message_size = 1e999999
}

component "add2" {
  source = "../app"
  config = {
    tiny = "${0.5e-99999}"
  }
}
