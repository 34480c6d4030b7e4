from app import net

net.up()
