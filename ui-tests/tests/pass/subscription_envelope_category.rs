use beckett::Envelope;

#[beckett::subscription(group = "Audit", category = "Order")]
async fn audit_orders(envelope: Envelope) -> beckett::Result<()> {
    println!("{} #{}: {}", envelope.stream, envelope.position, envelope.message_type);
    Ok(())
}

fn main() {}
