package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"filippo.io/age"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongostash/mongostash/internal/sample"
	"github.com/mongostash/mongostash/internal/testenv"
)

// runPITR is `make demo-pitr`: an encrypted base backup with its oplog, pitr archiving
// while orders are shipped, an accident (the shipped orders deleted), and a restore to the
// second before it, checked against the database as it was then.
func runPITR() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bed, err := startTestBed(ctx)
	if err != nil {
		return err
	}
	defer bed.client.Disconnect(context.Background())
	step("giving the server an oplog (FerretDB v1 logs its writes once a capped local.oplog.rs exists)")
	if err := testenv.EnableOplog(ctx, bed.client, "shop"); err != nil {
		return err
	}
	step("loading a sample database 'shop'")
	counts, err := sample.Load(ctx, bed.client, "shop", 2000)
	if err != nil {
		return err
	}
	printCounts(counts)
	recipient, identity, err := ageKeys()
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(identity))
	enc, dec := []string{"BACKUP_AGE_RECIPIENTS=" + recipient}, []string{"AGE_IDENTITY_FILE=" + identity}
	step("a base backup with its oplog (consistent at one moment), encrypted to the public key")
	if err := bed.mongostash(ctx, enc, "backup", "--oplog=true"); err != nil {
		return err
	}
	step("pitr: the oplog archived in encrypted chunks (one every 2 s here; 10 min by default) while orders are shipped")
	target, before, err := bed.archiveThroughAnAccident(ctx, enc)
	if err != nil {
		return err
	}
	for _, s := range []struct {
		title string
		extra []string
		args  []string
	}{
		{"list --windows: the times a restore can reach", nil, []string{"list", "--windows"}},
		{"verify --oplog: every chunk against its manifest (decrypted with the identity)", dec, []string{"verify", "--oplog"}},
		{"restore --to-time " + target + ": the base backup, then the chunks' entries up to that second, into shop_before_accident", dec,
			[]string{"restore", "--to-time", target, "--ns-from", "shop.*", "--ns-to", "shop_before_accident.*", "--drop"}},
	} {
		step(s.title)
		if err := bed.mongostash(ctx, s.extra, s.args...); err != nil {
			return err
		}
	}
	return checkOrders(ctx, bed, before)
}

// ageKeys makes an age key pair, as age-keygen does, and writes the identity to a file
// only the restore reads: the backups need the public key alone.
func ageKeys() (recipient, identityFile string, err error) {
	step("an age key pair (what age-keygen makes): the backup and pitr need only the public key")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", err
	}
	dir, err := os.MkdirTemp("", "mongostash-demo-")
	if err != nil {
		return "", "", err
	}
	identityFile = filepath.Join(dir, "key.txt")
	if err := os.WriteFile(identityFile, []byte(id.String()+"\n"), 0o600); err != nil {
		return "", "", err
	}
	fmt.Printf("public key %s; identity in %s\n", id.Recipient(), identityFile)
	return id.Recipient().String(), identityFile, nil
}

// orderCounts are what the check compares: all orders, and the shipped ones.
type orderCounts struct{ all, shipped int64 }

func countOrders(ctx context.Context, bed *testBed, db string) (orderCounts, error) {
	c := bed.client.Database(db).Collection("orders")
	all, err := c.CountDocuments(ctx, bson.D{})
	if err != nil {
		return orderCounts{}, err
	}
	shipped, err := c.CountDocuments(ctx, bson.D{{Key: "status", Value: "shipped"}})
	return orderCounts{all, shipped}, err
}

// archiveThroughAnAccident runs pitr while the paid orders are shipped, notes the second after
// that (the target) and the orders then, deletes the shipped orders (the accident), lets
// pitr archive it and stops pitr with SIGTERM, as a rollout would.
func (b *testBed) archiveThroughAnAccident(ctx context.Context, enc []string) (string, orderCounts, error) {
	fmt.Println("$ mongostash pitr --interval 2s --poll 200ms &")
	p := exec.CommandContext(ctx, b.bin, "pitr", "--interval", "2s", "--poll", "200ms")
	p.Env = append(append([]string{}, b.env...), enc...)
	p.Stdout, p.Stderr = os.Stdout, os.Stdout
	if err := p.Start(); err != nil {
		return "", orderCounts{}, err
	}
	orders := b.client.Database("shop").Collection("orders")
	fmt.Println("-- every paid order shipped")
	if _, err := orders.UpdateMany(ctx, bson.D{{Key: "status", Value: "paid"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "shipped"}}}}); err != nil {
		return "", orderCounts{}, err
	}
	shippedAt := time.Now()
	before, err := countOrders(ctx, b, "shop")
	if err != nil {
		return "", orderCounts{}, err
	}
	target := shippedAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	time.Sleep(time.Until(shippedAt.Truncate(time.Second).Add(time.Second + 100*time.Millisecond)))
	fmt.Printf("-- %s: %d orders, %d shipped; now the accident: every shipped order deleted\n", target, before.all, before.shipped)
	if _, err := orders.DeleteMany(ctx, bson.D{{Key: "status", Value: "shipped"}}); err != nil {
		return "", orderCounts{}, err
	}
	time.Sleep(5 * time.Second) // two intervals: the accident is archived too
	fmt.Println("$ kill -TERM <pitr>   # pitr stores the chunk in progress and exits 0")
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		return "", orderCounts{}, err
	}
	if err := p.Wait(); err != nil {
		return "", orderCounts{}, fmt.Errorf("pitr after SIGTERM: %w", err)
	}
	return target, before, nil
}

// checkOrders compares the restored orders with the orders before the accident.
func checkOrders(ctx context.Context, bed *testBed, before orderCounts) error {
	now, err := countOrders(ctx, bed, "shop")
	if err != nil {
		return err
	}
	got, err := countOrders(ctx, bed, "shop_before_accident")
	if err != nil {
		return err
	}
	fmt.Printf("  shop.orders now:                  %5d orders, %3d shipped\n", now.all, now.shipped)
	fmt.Printf("  shop_before_accident.orders:      %5d orders, %3d shipped  (before the accident: %d, %d)\n", got.all, got.shipped, before.all, before.shipped)
	if got != before {
		return fmt.Errorf("the restore to the second before the accident has %+v orders, want %+v", got, before)
	}
	return nil
}
