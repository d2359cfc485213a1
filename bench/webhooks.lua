-- wrk script for the Stripe webhook benchmark: cycles through pre-signed
-- deliveries (one "Stripe-Signature<TAB>body" per line) in the file named
-- by BENCH_DELIVERIES, written by bench/run.py just before the round.
local requests = {}
local next_index = 0
local wrapped = false

function init(args)
  local file = assert(io.open(os.getenv("BENCH_DELIVERIES"), "r"))
  for line in file:lines() do
    local signature, body = line:match("^([^\t]+)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", "/v1/webhooks/stripe",
      {["Content-Type"] = "application/json", ["Stripe-Signature"] = signature}, body)
  end
  file:close()
end

function request()
  next_index = next_index + 1
  if next_index > #requests then
    next_index = 1
    -- Redelivery rounds (BENCH_REDELIVERY=1) cycle through stored ids on purpose.
    if not wrapped and os.getenv("BENCH_REDELIVERY") ~= "1" then
      io.stderr:write("webhooks.lua: ran out of distinct deliveries; ids repeat from here\n")
      wrapped = true
    end
  end
  return requests[next_index]
end
