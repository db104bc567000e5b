// The dashboard's words in English and Brazilian Portuguese. t(key, {vars}) fills {name} slots.
const en = {
  language: "Language", logout: "Log out", login: "Log in", login_title: "zapgate — log in",
  api_key: "API key", key_help: "A tenant's key (zg_…) or the operator's admin key. It is kept only until this browser tab's session ends.",
  key_refused: "The gateway no longer accepts this key (revoked?): log in again.",
  operator: "operator", loading: "Loading…", error: "Something went wrong", unexpected: "Unexpected error", dismiss: "Dismiss",
  live_connecting: "connecting to live events…", live_live: "● live", live_offline: "○ offline, reconnecting",
  sessions: "Sessions", session: "Session", new_session: "New session", session_name: "Session name", engine: "Engine",
  engine_simulator: "Simulator (testing)", create: "Create", name: "Name", status: "Status", phone: "Phone", worker: "Worker",
  updated: "Updated", actions: "Actions", no_sessions: "No sessions yet: create one above.",
  start: "Start", stop: "Stop", restart: "Restart", logout_session: "Log out", delete: "Delete",
  accepted: "{action} accepted for {name}", deleted: "{name} deleted", confirm_delete: "Delete {name}? This cannot be undone.",
  scan_title: "Link this number", qr_alt: "QR code to link session {name}",
  scan_help: "On the phone: WhatsApp → Settings → Linked devices → Link a device, then point the camera at the code. It changes every few seconds on its own.",
  pair_with_phone: "Or link with a code: phone number", get_code: "Get pairing code", waiting_code: "Waiting for the code…",
  simulated_phone: "Simulated phone", simulate_scan: "Simulate a scan",
  chats: "Chats", no_chats: "No chats yet.", messages: "Messages", send_message: "Send a message", to: "To", type: "Type",
  send: "Send", text: "Text", file: "File", or_url: "or URL", caption: "Caption", latitude: "Latitude", longitude: "Longitude",
  place_name: "Place name", contact_name: "Contact's name", contact_phone: "Contact's phone", message_id: "Message id", emoji: "Emoji",
  message_accepted: "Message {id} accepted",
  type_text: "Text", type_image: "Image", type_video: "Video", type_audio: "Audio", type_voice: "Voice note", type_document: "Document",
  type_location: "Location", type_contact: "Contact card", type_reaction: "Reaction",
  automation: "Automation", automation_help: "Schedules and campaigns are created through the API or the zapgate CLI; here you watch and steer them.",
  schedules: "Schedules", campaigns: "Campaigns", when: "When", state: "State", next_fire: "Next", fired: "Fired", progress: "Progress",
  pause: "Pause", resume: "Resume", cancel: "Cancel", total: "total",
  count_queued: "queued", count_sent: "sent", count_delivered: "delivered", count_read: "read", count_failed: "failed",
  count_skipped: "skipped", count_replies: "replies",
  billing: "Plan & billing", plan: "Plan", month: "month", period: "Period", messages_sent: "Messages sent", unlimited: "unlimited",
  pay_pix: "Pay with PIX", pix_code: "PIX copy-and-paste code", pix_qr_alt: "PIX payment QR code",
  pix_help: "Scan the code in your bank's app, or copy the code below.", expires: "Expires", copy: "Copy", copied: "Copied",
  open_receipt: "Open in Mercado Pago", charges: "Charges", created: "Created", amount: "Amount", paid: "Paid",
  tenants: "Tenants", tenant_name: "Tenant name", api_keys: "API keys", new_key: "New key", prefix: "Prefix", revoke: "Revoke",
  confirm_revoke: "Revoke key {name}? Clients using it stop working at once.",
  new_key_shown_once: "New key (shown only now)", tenant_key_shown_once: "Key of {name} (shown only now)",
  plans: "Plans", price: "Price", price_brl: "Price (R$)", sessions_limit: "Sessions", messages_limit: "Messages per month",
  trial_days: "Trial days", default: "default",
  cluster: "Cluster", partitions: "Partitions", live: "Live", yes: "yes", no: "no",
  unheld: "Partitions no worker holds", all_held: "Every partition is held by a worker.",
};

const ptBR = {
  language: "Idioma", logout: "Sair", login: "Entrar", login_title: "zapgate — entrar",
  api_key: "Chave de API", key_help: "A chave de um cliente (zg_…) ou a chave de administrador. Ela fica guardada só até esta aba do navegador fechar.",
  key_refused: "O gateway não aceita mais esta chave (revogada?): entre de novo.",
  operator: "operador", loading: "Carregando…", error: "Algo deu errado", unexpected: "Erro inesperado", dismiss: "Fechar",
  live_connecting: "conectando aos eventos ao vivo…", live_live: "● ao vivo", live_offline: "○ desconectado, reconectando",
  sessions: "Sessões", session: "Sessão", new_session: "Nova sessão", session_name: "Nome da sessão", engine: "Motor",
  engine_simulator: "Simulador (testes)", create: "Criar", name: "Nome", status: "Status", phone: "Telefone", worker: "Worker",
  updated: "Atualizada", actions: "Ações", no_sessions: "Nenhuma sessão ainda: crie uma acima.",
  start: "Iniciar", stop: "Parar", restart: "Reiniciar", logout_session: "Desconectar", delete: "Excluir",
  accepted: "{action} aceito para {name}", deleted: "{name} excluída", confirm_delete: "Excluir {name}? Não dá para desfazer.",
  scan_title: "Conectar este número", qr_alt: "QR code para conectar a sessão {name}",
  scan_help: "No celular: WhatsApp → Configurações → Aparelhos conectados → Conectar um aparelho, e aponte a câmera para o código. Ele muda sozinho a cada poucos segundos.",
  pair_with_phone: "Ou conecte com um código: número do telefone", get_code: "Gerar código de pareamento", waiting_code: "Aguardando o código…",
  simulated_phone: "Telefone simulado", simulate_scan: "Simular leitura",
  chats: "Conversas", no_chats: "Nenhuma conversa ainda.", messages: "Mensagens", send_message: "Enviar mensagem", to: "Para", type: "Tipo",
  send: "Enviar", text: "Texto", file: "Arquivo", or_url: "ou URL", caption: "Legenda", latitude: "Latitude", longitude: "Longitude",
  place_name: "Nome do local", contact_name: "Nome do contato", contact_phone: "Telefone do contato", message_id: "Id da mensagem", emoji: "Emoji",
  message_accepted: "Mensagem {id} aceita",
  type_text: "Texto", type_image: "Imagem", type_video: "Vídeo", type_audio: "Áudio", type_voice: "Mensagem de voz", type_document: "Documento",
  type_location: "Localização", type_contact: "Cartão de contato", type_reaction: "Reação",
  automation: "Automação", automation_help: "Agendamentos e campanhas são criados pela API ou pela CLI zapgate; aqui você acompanha e controla.",
  schedules: "Agendamentos", campaigns: "Campanhas", when: "Quando", state: "Estado", next_fire: "Próximo", fired: "Disparos", progress: "Progresso",
  pause: "Pausar", resume: "Retomar", cancel: "Cancelar", total: "total",
  count_queued: "na fila", count_sent: "enviadas", count_delivered: "entregues", count_read: "lidas", count_failed: "falharam",
  count_skipped: "puladas", count_replies: "respostas",
  billing: "Plano e cobrança", plan: "Plano", month: "mês", period: "Período", messages_sent: "Mensagens enviadas", unlimited: "ilimitado",
  pay_pix: "Pagar com PIX", pix_code: "Código PIX copia e cola", pix_qr_alt: "QR code de pagamento PIX",
  pix_help: "Leia o código no app do seu banco, ou copie o código abaixo.", expires: "Vence", copy: "Copiar", copied: "Copiado",
  open_receipt: "Abrir no Mercado Pago", charges: "Cobranças", created: "Criada", amount: "Valor", paid: "Paga",
  tenants: "Clientes", tenant_name: "Nome do cliente", api_keys: "Chaves de API", new_key: "Nova chave", prefix: "Prefixo", revoke: "Revogar",
  confirm_revoke: "Revogar a chave {name}? Quem a usa para de funcionar na hora.",
  new_key_shown_once: "Nova chave (mostrada só agora)", tenant_key_shown_once: "Chave de {name} (mostrada só agora)",
  plans: "Planos", price: "Preço", price_brl: "Preço (R$)", sessions_limit: "Sessões", messages_limit: "Mensagens por mês",
  trial_days: "Dias de teste", default: "padrão",
  cluster: "Cluster", partitions: "Partições", live: "Ativo", yes: "sim", no: "não",
  unheld: "Partições sem worker", all_held: "Toda partição está com um worker.",
};

export const LANGUAGES = { en, "pt-BR": ptBR };
let current = "en";

export function setLang(value) {
  current = LANGUAGES[value] ? value : "en";
  localStorage.setItem("zapgate.lang", current);
}

export const lang = () => current;

export function t(key, vars = {}) {
  const text = LANGUAGES[current][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? `{${name}}`));
}

// The few words written in index.html itself.
export function translateStatic(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}
