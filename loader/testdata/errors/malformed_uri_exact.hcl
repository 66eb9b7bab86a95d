component "add2" {
  source = "../app"

  register "com.my app.add2" {
    handler = "Add2"
  }
}
