component "add2" {
  source = "../app"

  register "com.myapp.add2" {
    handler = "Add2"
    invoke  = "round-robin"
  }
}
