component "add2" {
  source = "../app"

  register "com.myapp" {
    handler = "Add2"
    match   = "prefixed"
  }
}
