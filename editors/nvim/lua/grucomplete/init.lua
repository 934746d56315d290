-- grucomplete: Neovim setup for the grucomplete language server (local neural Python completion).
--
-- require('grucomplete').setup({ model = '~/runs/myrepo', beamWidth = 5 })
--
-- Keys of `setup()` listed in `plugin_keys` configure the Neovim side; every other key is a
-- server setting (camelCase, see README) and is sent both as initializationOptions and as the
-- `grucomplete` settings section.

local M = {}

---Options that configure Neovim; everything else goes to the server.
M.defaults = {
  cmd = { 'grucomplete', 'serve' }, -- how to start the server (a list, no shell)
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'setup.py', '.git' },
  completion = true, -- native LSP completion popup (0.11+), autotriggered on '.'
  inline = true, -- ghost-text line completions (0.12+, vim.lsp.inline_completion)
  on_attach = nil, -- function(client, bufnr) called after ours
  capabilities = nil, -- extra client capabilities, e.g. from cmp-nvim-lsp or blink.cmp
}

local plugin_keys = {}
for key in pairs(M.defaults) do
  plugin_keys[key] = true
end

---The effective configuration after `setup()`; `nil` before. Read by `:checkhealth grucomplete`.
---@type table?
M.config = nil

---Split user options into plugin options and server settings.
---@param opts table
---@return table plugin, table settings
local function split(opts)
  local plugin, settings = vim.deepcopy(M.defaults), {}
  for key, value in pairs(opts) do
    if plugin_keys[key] then
      plugin[key] = value
    else
      settings[key] = value
    end
  end
  -- The server does not expand `~`; a path typed in init.lua usually has one.
  if type(settings.model) == 'string' and settings.model ~= 'default' then
    settings.model = vim.fn.expand(settings.model)
  end
  return plugin, settings
end

---Neovim's native completion (0.11) inserts a plain-text item only up to its first space, so
---accepting a whole-line item would leave `path.join(root,`. On accept, put in the rest.
local function complete_whole_lines(client, bufnr)
  vim.api.nvim_create_autocmd('CompleteDone', {
    group = vim.api.nvim_create_augroup('grucomplete.lines.' .. bufnr, { clear = true }),
    buffer = bufnr,
    callback = function()
      local reason = (vim.v.event or {}).reason
      if reason ~= nil and reason ~= 'accept' then
        return
      end
      local completed = vim.v.completed_item or {}
      local lsp = vim.tbl_get(completed, 'user_data', 'nvim', 'lsp') or {}
      local item, word = lsp.completion_item, completed.word
      if lsp.client_id ~= client.id or type(item) ~= 'table' or type(word) ~= 'string' then
        return
      end
      local text = vim.tbl_get(item, 'textEdit', 'newText')
      if item.insertTextFormat == 2 or type(text) ~= 'string' or text == word then
        return -- snippets are expanded by Neovim itself
      end
      local row, col = unpack(vim.api.nvim_win_get_cursor(0))
      local line = vim.api.nvim_get_current_line()
      if text:sub(1, #word) ~= word or line:sub(col - #word + 1, col) ~= word then
        return
      end
      vim.api.nvim_buf_set_text(bufnr, row - 1, col, row - 1, col, { text:sub(#word + 1) })
      vim.api.nvim_win_set_cursor(0, { row, col + #text - #word })
    end,
  })
end

---Turn on the editor-side features for one attached buffer.
local function attach(plugin, client, bufnr)
  if plugin.completion and vim.lsp.completion then
    vim.lsp.completion.enable(true, client.id, bufnr, { autotrigger = true })
    complete_whole_lines(client, bufnr)
  end
  if plugin.inline and vim.lsp.inline_completion then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  end
  if plugin.on_attach then
    plugin.on_attach(client, bufnr)
  end
end

---The client configuration shared by the 0.11 and 0.10 code paths.
local function client_config(plugin, settings)
  local config = {
    cmd = plugin.cmd,
    filetypes = plugin.filetypes,
    root_markers = plugin.root_markers,
    init_options = settings,
    settings = { grucomplete = settings },
    on_attach = function(client, bufnr)
      attach(plugin, client, bufnr)
    end,
  }
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  if plugin.capabilities then
    capabilities = vim.tbl_deep_extend('force', capabilities, plugin.capabilities)
  end
  -- The server puts the whole line in the popup only for a client without ghost text: say we
  -- have none when it is off (or before 0.12), so the line is not lost.
  if not (plugin.inline and vim.lsp.inline_completion) and capabilities.textDocument then
    capabilities.textDocument.inlineCompletion = nil
  end
  config.capabilities = capabilities
  return config
end

---Start (0.10) the server for one buffer.
local function start_legacy(config, bufnr)
  local root = vim.fs.root(bufnr, config.root_markers)
  local start = vim.tbl_extend('force', config, {
    name = 'grucomplete',
    root_dir = root or vim.fs.dirname(vim.api.nvim_buf_get_name(bufnr)),
  })
  start.filetypes, start.root_markers = nil, nil
  vim.lsp.start(start, { bufnr = bufnr })
end

---Configure and enable the server. Call once, from init.lua or a plugin manager's `opts`.
---@param opts table?
function M.setup(opts)
  if vim.fn.has('nvim-0.10') == 0 then
    vim.notify('grucomplete needs Neovim 0.10 or newer', vim.log.levels.ERROR)
    return
  end
  local plugin, settings = split(opts or {})
  M.config = { plugin = plugin, settings = settings }
  local config = client_config(plugin, settings)

  if vim.lsp.config and vim.lsp.enable then -- Neovim 0.11+
    vim.lsp.config('grucomplete', config)
    vim.lsp.enable('grucomplete')
    return
  end

  local group = vim.api.nvim_create_augroup('grucomplete', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = plugin.filetypes,
    callback = function(args)
      start_legacy(config, args.buf)
    end,
  })
  -- Buffers opened before setup() (e.g. `nvim foo.py` with a lazily loaded plugin).
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(plugin.filetypes, vim.bo[bufnr].filetype) then
      start_legacy(config, bufnr)
    end
  end
end

return M
