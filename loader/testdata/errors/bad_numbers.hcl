component "oncounter" {
  source      = "../app"
  event_queue = 1.5
}

component "other" {
  source      = "../app"
  event_queue = 0
}

component "third" {
  source      = "../app"
  event_queue = "many"
}
