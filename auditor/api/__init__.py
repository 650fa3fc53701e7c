"""`auditor serve`: the reports API and web page over the local bundle directory.

app = ApiApp(ReportLibrary(Path("reports"), trusted_key), authenticate, SystemClock())
server = ApiServer(app, "127.0.0.1", 8080); server.start(); ...; server.stop()
"""
