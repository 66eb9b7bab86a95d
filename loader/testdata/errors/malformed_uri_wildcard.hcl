component "watcher" {
  source = "../app"

  subscribe "com.myapp.#" {
    handler = "OnAny"
    match   = "wildcard"
  }
}
