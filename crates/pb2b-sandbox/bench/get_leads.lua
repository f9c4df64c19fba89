-- wrk script: GET /leads?limit=100 (the first page; its cost is the same for later pages).
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("PB2B_KEY")
end
