"""What the JSON routes and the pages both call: one function per question asked of the store."""
