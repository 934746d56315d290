-- :checkhealth grucomplete: Neovim version, server executable, `grucomplete --version`, model load.

local M = {}

local health = vim.health

-- A tiny document whose top completion any sensible model gets right; only loading is checked.
local PROBE = 'import os\nos.'
local PROBE_TIMEOUT_MS = 60000 -- a cold model load imports torch; be generous

---The command prefix that runs `grucomplete` subcommands: the configured `cmd` up to `serve`.
---@param cmd string[]
---@return string[]?
local function base_command(cmd)
  for i, arg in ipairs(cmd) do
    if arg == 'serve' then
      return vim.list_slice(cmd, 1, i - 1)
    end
  end
  return nil
end

local function run(argv, stdin)
  local ok, result = pcall(function()
    return vim.system(argv, { text = true, stdin = stdin }):wait(PROBE_TIMEOUT_MS)
  end)
  if not ok then
    return { code = -1, stdout = '', stderr = tostring(result) }
  end
  return result
end

local function first_line(text)
  return (vim.trim(text or ''):match('[^\n]*')) or ''
end

local function check_neovim()
  local v = vim.version()
  local version = string.format('%d.%d.%d', v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. version)
  elseif vim.fn.has('nvim-0.10') == 1 then
    health.warn('Neovim ' .. version .. ': works, but native completion needs 0.11 or newer')
  else
    health.error('Neovim ' .. version .. ': grucomplete needs 0.10 or newer')
  end
  if vim.lsp.inline_completion then
    health.ok('inline (ghost text) completion is available')
  else
    health.info('inline (ghost text) completion needs Neovim 0.12; word and line items still work')
  end
end

---What a running server says of itself (`grucomplete.serverStatus`): its model and jedi.
local function check_server_status(client)
  local params = { command = 'grucomplete.serverStatus', arguments = {} }
  local response, err
  if vim.fn.has('nvim-0.11') == 1 then
    response, err = client:request_sync('workspace/executeCommand', params, 5000)
  else
    response, err = client.request_sync('workspace/executeCommand', params, 5000)
  end
  local status = response and response.result
  if type(status) ~= 'table' then
    local why = err or (response and response.err and response.err.message) or 'no answer'
    health.warn('the server did not report its status: ' .. tostring(why))
    return
  end
  local model = status.model or {}
  if model.state == 'ready' then
    health.ok('server ' .. client.id .. ': model loaded (' .. tostring(model.path) .. ')')
  elseif model.state == 'failed' then
    health.error('server ' .. client.id .. ': the model did not load: ' .. tostring(model.reason))
  else
    health.info('server ' .. client.id .. ': model ' .. tostring(model.state))
  end
  local static = status.staticAnalysis or {}
  local counts = ''
  if (static.answers or 0) > 0 then
    counts = string.format(' (%d of the last %d answers failed)', static.failed, static.answers)
  end
  if static.state == 'failing' then
    health.error('static analysis (jedi) is failing: ' .. tostring(static.reason) .. counts, {
      'completions after `.` go on without jedi; see `:LspLog` for details',
    })
  elseif static.state == 'off' then
    health.warn('static analysis (jedi) is off: ' .. tostring(static.reason))
  elseif static.state == 'starting' then
    health.info('static analysis (jedi) is starting')
  else
    health.ok('static analysis (jedi) works' .. counts)
  end
  local fit = status.machineFit or {}
  if fit.fitted then
    health.info(string.format(
      'fitted to this machine: beam %s, lines of %s tokens, a %s-token window; '
        .. 'predicted keystroke %s ms, jump %s ms',
      tostring(fit.beam_width), tostring(fit.line_max_tokens), tostring(fit.context_tokens),
      tostring(fit.predicted_keystroke_ms), tostring(fit.predicted_jump_ms)))
    if fit.model then
      health.info(string.format('model %s: %s', tostring(fit.model), tostring(fit.model_reason)))
    end
  end
  local memory = status.workspaceMemory or {}
  if memory.state and memory.state ~= 'off' then
    health.info(string.format('workspace memory: %s, %s files, %s entries, %s MB',
      tostring(memory.state), tostring(memory.files), tostring(memory.entries),
      tostring(memory.memoryMB)))
  end
  local recalled = status.workspaceLines or {}
  if recalled.state and recalled.state ~= 'off' then
    health.info(string.format('lines written before: %s, %s lines of %s files%s',
      tostring(recalled.state), tostring(recalled.lines), tostring(recalled.files),
      recalled.truncated and ' (bound reached: some files left out)' or ''))
  end
end

---The clients: running ones report their model and static analysis; starting ones, their wait.
local function check_clients(grucomplete)
  local clients = vim.lsp.get_clients({ name = 'grucomplete' })
  if #clients > 0 then
    health.ok(string.format('%d grucomplete client(s) running', #clients))
  end
  for root, start in pairs(grucomplete.starting or {}) do
    health.info(string.format(
      'a grucomplete client is starting (%.0f s ago, root %s): waiting for `%s` to answer'
        .. ' `initialize` (a cold start imports Python packages; the model loads after that)',
      (vim.uv.hrtime() - start.started) / 1e9,
      root ~= '' and root or '(none)',
      table.concat(start.cmd, ' ')
    ))
  end
  if #clients == 0 and next(grucomplete.starting or {}) == nil then
    health.info('no grucomplete client running yet (open a Python file)')
  end
  for _, client in ipairs(clients) do
    check_server_status(client)
  end
end

function M.check()
  health.start('grucomplete')
  check_neovim()

  local grucomplete = require('grucomplete')
  local config = grucomplete.config
  if not config then
    health.warn("setup() has not been called", { "add require('grucomplete').setup() to init.lua" })
    config = { plugin = grucomplete.defaults, settings = {} }
  end
  local cmd = config.plugin.cmd
  -- First, while it is current: the model check below takes seconds.
  check_clients(grucomplete)

  local exe = vim.fn.exepath(cmd[1])
  if exe == '' then
    health.error(
      'server executable not found: ' .. cmd[1],
      { 'pip install grucomplete (into a Python on $PATH), or set `cmd` in setup()' }
    )
    return
  end
  health.ok('server executable: ' .. exe)

  local base = base_command(cmd)
  if not base then
    health.info('`cmd` has no `serve` argument; skipping the version and model checks')
    return
  end

  local version = run(vim.list_extend(vim.deepcopy(base), { '--version' }))
  if version.code ~= 0 then
    health.error('`grucomplete --version` failed: ' .. first_line(version.stderr))
    return
  end
  health.ok(first_line(version.stdout))

  local settings = config.settings or {}
  local model = settings.model or 'default'
  local probe = vim.list_extend(vim.deepcopy(base), {
    'complete', '-', '--line', '2', '--col', '4', '--json', '--max-tokens', '2',
    '--model', model, '--precision', settings.precision or 'int8',
  })
  local started = vim.uv.hrtime()
  local result = run(probe, PROBE)
  local seconds = (vim.uv.hrtime() - started) / 1e9
  if result.code ~= 0 then
    health.error('model ' .. model .. ' does not load: ' .. first_line(result.stderr))
    return
  end
  local ok, decoded = pcall(vim.json.decode, result.stdout)
  if not ok or type(decoded) ~= 'table' or type(decoded.words) ~= 'table' then
    health.error('model ' .. model .. ': unexpected output from `grucomplete complete`')
    return
  end
  local top = decoded.words[1] and decoded.words[1].label or '(nothing)'
  health.ok(string.format('model %s loads and completes (`os.` -> %s, %.1f s)', model, top, seconds))

end

return M
