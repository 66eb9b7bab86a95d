component "add2" {
  source = "../app"

  register "com.myapp.add2" {
    handler = "Add2"
  }
}

component "add2_again" {
  source = "../app"

  register "com.myapp.add2" {
    handler = "Add2"
  }
}
