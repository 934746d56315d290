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

  local clients = vim.lsp.get_clients({ name = 'grucomplete' })
  if #clients > 0 then
    health.ok(string.format('%d grucomplete client(s) running', #clients))
  else
    health.info('no grucomplete client running yet (open a Python file)')
  end
end

return M
